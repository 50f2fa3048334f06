"""Use cases the desktop app and the command lines share: each a workflow over the layers below, no Qt."""
