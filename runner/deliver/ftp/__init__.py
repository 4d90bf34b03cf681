"""Destination `ftp`: feed files uploaded to an FTP or FTPS server with ftplib, atomically.

settings.py     keys under `destination:`, FEEDS_FTP_* variables, secrets (imported with the configuration)
session.py      one connection: TCP, TLS (explicit or implicit) with certificate check, log-in, passive
                data connections that resume the control channel's TLS session
destination.py  FtpDestination: atomic upload, resume (REST), replace, tidy, on the shared retry and pool
"""
