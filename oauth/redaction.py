"""Keep tokens carried in query strings out of logs.

Coder accepts ``?coder_session_token=`` and ``?access_token=``; anything that logs a URL
(an access log, a debug line, a third-party library) would write a working credential to
disk. The filter sits on the log handlers, so it covers every logger.
"""

import logging
import re

_TOKEN_IN_QUERY = re.compile(r"((?:coder_session_token|access_token)=)[^&#\s\"']+", re.IGNORECASE)
REDACTED = "[redacted]"


def redact_tokens(text: str) -> str:
    return _TOKEN_IN_QUERY.sub(rf"\g<1>{REDACTED}", text)


class RedactTokensFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_tokens(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True
