"""Code Center: git smart HTTP (dulwich) for every app, where a push to main deploys."""
