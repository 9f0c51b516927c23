"""Cards: one neutral card model (`cards.model`) rendered per platform (`cards.render`).

Handlers build a `Card`; the notifier renders it for the recipient's platform; adapters decode
a tap back into (card_id, action, values) with the helpers in `cards.render`.
"""
from cards.model import (
    Button, Card, CardDecodeError, CardError, DecodedAction, Field, Level, card_from_dict, card_to_dict,
)

__all__ = ["Button", "Card", "CardDecodeError", "CardError", "DecodedAction", "Field", "Level", "card_from_dict",
           "card_to_dict"]
