"""Who may do what, and how much of it: client quotas (and, with issue 6, SASL and ACLs)."""
