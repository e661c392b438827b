"""paas.pki: the platform's certificate authority and the leaf certificates it issues.

One implementation shared by Platform Control, the add-on services and the router
(which must not import Django): plain ``cryptography`` code, files in the data directory.
"""
