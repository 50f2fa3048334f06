"""The club's order router: traders' orders are virtual until it nets and sends them (router.py), through the
ledger's broker seat (desk.py); the service that holds the shared account (service.py)."""
