"""Running the feeds: `plan` resolves the settings once into plain values, `gates` decides whether a
run may go on, `execute` builds, exports and delivers (overlapped), `resend` delivers files that
already exist. Output goes through a `runner.reporter.Reporter`; failures are runner.errors classes.
"""
