"""The Engine side: the API protocol, the aiodocker adapter, and the typed models it parses into."""
