"""The app's JSON provider: Flask's, writing through payments/fast_json.py."""

from __future__ import annotations

from typing import Any

from flask import Response
from flask.json.provider import DefaultJSONProvider

from payments.fast_json import dumps


class FastJSONProvider(DefaultJSONProvider):
    """Flask's JSON provider with `dumps` underneath: the same documents (sorted keys, Flask's
    handling of dates, decimals and UUIDs), written as UTF-8 rather than ASCII escapes. Calls
    with options of their own (an indent, say) and pretty answers in debug mode keep Flask's
    implementation."""

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        if kwargs:
            return super().dumps(obj, **kwargs)
        return dumps(obj, default=self.default, sort_keys=self.sort_keys).decode()

    def response(self, *args: Any, **kwargs: Any) -> Response:
        if self.compact is False or (self.compact is None and self._app.debug):
            return super().response(*args, **kwargs)
        body = dumps(
            self._prepare_response_obj(args, kwargs), default=self.default, sort_keys=self.sort_keys
        )
        return self._app.response_class(body + b"\n", mimetype=self.mimetype)
