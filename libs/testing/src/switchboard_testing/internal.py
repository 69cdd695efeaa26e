"""The internal gRPC token a test deployment's services share (docs/internal-grpc.md).

The pytest plugin puts it in the environment, so settings built in a test carry it as
a deployment's would; processes started apart are given it in `INTERNAL_ENV`."""

from switchboard_core.internal_token import METADATA_KEY

INTERNAL_TOKEN = "switchboard-tests-internal-token-not-a-secret"
INTERNAL_ENV = {"SWITCHBOARD_INTERNAL_TOKEN": INTERNAL_TOKEN}
# What a peer service sends with each call (for a test calling an internal API itself).
INTERNAL_METADATA = ((METADATA_KEY, INTERNAL_TOKEN),)
