"""What the hub's queue carries: the host reducer's messages (defined in floe/model/messages.py)."""

from floe.model.messages import Lines, Message, NodeDone, Wake

__all__ = ["Lines", "Message", "NodeDone", "Wake"]
