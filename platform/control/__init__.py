"""Platform Control: turn desired state (releases, formation) into placed, running, routed instances."""
