"""The generated protobuf and gRPC modules, under short names.

Generated `*_pb2` names stay inside `server/`; `make proto` regenerates them.
"""

from server.gen.tierline.v1 import classifier_pb2 as pb
from server.gen.tierline.v1 import classifier_pb2_grpc as pb_grpc

__all__ = ["pb", "pb_grpc"]
