"""Several callables in one script, for `PyApp /x script.py:name`."""


def _reply(start_response, text):
    body = text.encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def application(environ, start_response):
    return _reply(start_response, "named_callables.application")


def other(environ, start_response):
    return _reply(start_response, "named_callables.other")


class _Holder:
    @staticmethod
    def nested(environ, start_response):
        return _reply(start_response, "named_callables._Holder.nested")


holder = _Holder()
not_callable = 42
