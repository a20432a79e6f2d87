"""iv_fuzz_test: one libFuzzer target and its corpus-replay test."""

def iv_fuzz_test(name, deps = [], **kwargs):
    """The target `<name>_fuzzer` built from `<name>_fuzzer.cc`.

    Its corpus is corpus/<name>/ (every file in it, recursively). In the
    normal build it is a test that runs the fuzz function once over every
    corpus file, so the corpus is a regression suite; under --config=fuzz
    (--define=fuzzing=libfuzzer) it is a libFuzzer binary (tools/fuzz.sh).
    """
    native.cc_test(
        name = name + "_fuzzer",
        size = "small",
        srcs = [name + "_fuzzer.cc"],
        args = ["fuzz/corpus/" + name],
        data = native.glob(["corpus/%s/**" % name]),
        # Everything of the workspace linked into the binary: libFuzzer and
        # the sanitizers want one executable, not a tree of .so files.
        linkstatic = True,
        deps = deps + select({
            "//fuzz:libfuzzer": [],
            "//conditions:default": ["//fuzz:corpus_replay_main"],
        }),
        **kwargs
    )
