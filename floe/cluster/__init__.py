"""The cluster: peer hosts, host-to-host calls, placement across hosts and resource reservations."""
