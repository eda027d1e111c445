"""fastai's names that digitlab.book does not provide: `NotInBook` says so, naming docs/book.md."""

from __future__ import annotations

from digitlab.errors import DigitlabError


class NotInBook(DigitlabError):
    """A fastai feature that digitlab.book does not provide."""


class MissingAttribute(NotInBook, AttributeError):
    """A fastai method or attribute that digitlab's object lacks.

    It is also an AttributeError, so `hasattr` and `getattr(obj, name, default)` keep working.
    """


def _not_in_book(what: str, kind: type[NotInBook] = MissingAttribute) -> NotInBook:
    return kind(
        f"fastai's {what} is not part of digitlab.book; docs/book.md lists what the chapter 4 "
        "tutorials can use"
    )


def _refuse_missing(owner: str, name: str) -> NotInBook | AttributeError:
    # Dunder and private names are Python's protocol probes (numpy, copy, pickle): they must keep
    # getting a plain AttributeError.
    if name.startswith("_"):
        return AttributeError(name)
    return _not_in_book(f"{owner}.{name}")
