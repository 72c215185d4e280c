"""The hub: the event queue of a host, its single consumer, dispatch and run execution."""
