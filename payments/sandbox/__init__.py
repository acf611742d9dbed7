"""Development sandbox, mounted under /sandbox when SANDBOX_ENABLED (on by default outside
production): a payment provider with a checkout page, and a merchant inbox that verifies the
signed notifications it receives. `make run` uses both, so the whole lifecycle works offline."""

from flask import Flask


def register_sandbox(app: Flask) -> None:
    from payments.sandbox import checkout, merchant_inbox, provider

    app.register_blueprint(provider.blp)
    app.register_blueprint(checkout.blp)
    app.register_blueprint(merchant_inbox.blp)
