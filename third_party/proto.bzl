"""iv_proto_library: C++ (and gRPC) code from .proto files with Debian's protoc.

Bazel 4.2.3's native proto rules need @com_google_protobuf, which cannot be
fetched offline, so this macro runs the system `protoc` and `grpc_cpp_plugin`
in a genrule. Import paths are relative to the workspace root
(`import "protos/common.proto";`), and so are the generated headers
(`#include "protos/common.pb.h"`).
"""

def iv_proto_library(name, srcs, deps = [], grpc = False, visibility = None, testonly = False):
    """Declares `name` (a cc_library) and `name + "_files"` (the .proto files).

    Args:
      name: the cc_library holding the generated code.
      srcs: .proto files of this package.
      deps: other iv_proto_library targets these files import.
      grpc: also generate gRPC service stubs.
      visibility: as usual.
      testonly: as usual.
    """
    native.filegroup(
        name = name + "_files",
        srcs = srcs + [dep + "_files" for dep in deps],
        visibility = visibility,
        testonly = testonly,
    )
    stems = [src[:-len(".proto")] for src in srcs]
    outs = [s + ".pb.h" for s in stems] + [s + ".pb.cc" for s in stems]
    cmd = "protoc -I. -I/usr/include --cpp_out=$(GENDIR)"
    if grpc:
        outs += [s + ".grpc.pb.h" for s in stems] + [s + ".grpc.pb.cc" for s in stems]
        cmd += " --grpc_out=$(GENDIR) --plugin=protoc-gen-grpc=$$(command -v grpc_cpp_plugin)"
    cmd += " " + " ".join(["$(location %s)" % src for src in srcs])
    native.genrule(
        name = name + "_gen",
        srcs = srcs + [name + "_files"],
        outs = outs,
        cmd = cmd,
        testonly = testonly,
    )
    native.cc_library(
        name = name,
        srcs = [o for o in outs if o.endswith(".cc")],
        hdrs = [o for o in outs if o.endswith(".h")],
        deps = deps + ["//third_party:protobuf"] + (["//third_party:grpc"] if grpc else []),
        visibility = visibility,
        testonly = testonly,
    )
