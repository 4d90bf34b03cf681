"""Destination `sftp`: feed files uploaded to an SSH server with paramiko, atomically and fast.

settings.py   keys under `destination:`, FEEDS_SFTP_* variables, secrets (imported with the configuration)
session.py    one connection: TCP, SSH handshake, host-key check, log-in, SFTP channel
hostkeys.py   known_hosts and pinned fingerprints
wire.py       the pipelined write path (large write requests kept in flight)
destination.py  SftpDestination: atomic upload, resume, replace, tidy, on the shared retry and pool
"""
