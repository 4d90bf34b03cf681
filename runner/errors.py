"""The one exception hierarchy. Every message says what was wrong, where, and what to do.

The CLI maps each class to an exit code; nothing else in the package knows about exit codes.
Messages never contain a secret (passwords, passphrases, key material).
"""


class FeedsError(Exception):
    """Base of every failure a user can cause or meet; printed without a traceback."""

    #: The run record of the run this error ended, when there was one (set by the pipeline).
    run_record: object = None


class ConfigError(FeedsError):
    """Bad configuration, option or missing credential (exit 2)."""


class DataTestsFailed(FeedsError):
    """dbt models or data tests failed; nothing was exported (exit 1)."""


class ExportError(FeedsError):
    """A feed file could not be written or failed its post-write checks (exit 1)."""


class ValidationFailed(FeedsError):
    """A feed file does not meet the feed contract (exit 1)."""


class DeliveryError(FeedsError):
    """A file could not be delivered to its destination (exit 3)."""

    #: Whether retrying the same operation may succeed (reset, EOF, timeout).
    transient: bool = False


class TransientDeliveryError(DeliveryError):
    """A delivery failure that a retry may cure: connection reset, EOF, timeout."""

    transient = True


class HostKeyError(DeliveryError):
    """The server's host key is unknown or changed; never retried."""


class AuthenticationError(DeliveryError):
    """The server refused our credentials; never retried."""


class GateRefused(FeedsError):
    """A safety gate refused to deliver (exit 4)."""


class RunLocked(GateRefused):
    """Another run holds the run lock (exit 4: refused, nothing done)."""


class CertificateError(DeliveryError):
    """The FTPS server's certificate failed verification (CA, host name or pin); never retried."""
