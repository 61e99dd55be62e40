"""The holder's library: keys, encrypted store, OpenID4VCI client, presentations and QR codes."""
