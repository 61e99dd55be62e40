"""The clerk and operator desk: pages under the issuer's ``/desk`` for people with accounts (see web.py for the
HTTP edge, service.py for what each role may do, bulk.py for CSV jobs, accounts.py for passwords and sessions).
"""
