"""The demo data set. Providers have no URL of their own (PROVIDER_URL applies) and merchants
no callback URL (MERCHANT_CALLBACK_URL applies)."""

from decimal import Decimal

PLANS = [
    {"name": "Basic", "price": Decimal("9.99"), "tokens": 1_000_000},
    {"name": "Premium", "price": Decimal("19.99"), "tokens": 10_000_000},
    {"name": "Enterprise", "price": Decimal("49.99"), "tokens": 100_000_000},
]

MERCHANTS = [
    {"name": "Demo", "email": "demo@example.com", "plan": "Basic"},
    {"name": "Test", "email": "test@example.com", "plan": "Basic"},
    {"name": "Sample", "email": "sample@example.com", "plan": "Basic"},
]

PROVIDERS = [
    {"name": "Stripe", "alias": "stripe"},
    {"name": "PayPal", "alias": "paypal"},
    {"name": "Adyen", "alias": "adyen"},
]
