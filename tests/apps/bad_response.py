"""start_response misuse, chosen by PATH_INFO. None of these responses may
reach the client: the server must answer 500 and log why."""

CASES = {
    "/status_abc": ("abc", []),
    "/status_2000": ("2000 Too Big", []),
    "/status_99": ("99 Too Small", []),
    "/header_name_space": ("200 OK", [("Bad Header", "x")]),
    "/header_name_colon": ("200 OK", [("Bad:Header", "x")]),
    "/header_value_crlf": ("200 OK", [("X-Evil", "a\r\nInjected: yes")]),
    "/header_value_lf": ("200 OK", [("X-Evil", "a\nInjected: yes")]),
    "/header_value_ctl": ("200 OK", [("X-Evil", "a\x01b")]),
    "/header_not_tuple": ("200 OK", ["X-Evil: yes"]),
}


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if path not in CASES:
        body = b"valid response\n"
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [body]
    status, headers = CASES[path]
    start_response(status, headers)
    return [b"MUST-NOT-BE-SENT"]
