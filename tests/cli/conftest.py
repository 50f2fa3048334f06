from tests.accounts_admin.club import club  # noqa: F401
