"""GNU Radio flowgraphs for tests/net/test_gnuradio.py, run with the system Python that has GNU
Radio (``/usr/bin/python3 tests/net/_gr_flowgraphs.py CASE ...``); not a test module.

Cases (N samples of `ramp`, tags `TAGS` at offsets `TAG_OFFSETS`):

- ``push ADDRESS N PASS_TAGS``: vector_source_c (once, with the tags) -> zeromq.push_sink.
- ``pub ADDRESS N PASS_TAGS RATE``: vector_source_c (repeated, tags every period) -> throttle
  -> zeromq.pub_sink, until killed.
- ``pull ADDRESS N OUT PASS_TAGS``: zeromq.pull_source -> head(N) -> file_sink OUT; with
  PASS_TAGS the tags GNU Radio rebuilt from the headers go to OUT.tags.json.
- ``sub ADDRESS N OUT``: zeromq.sub_source -> head(N) -> file_sink OUT.
- ``pmt``: GNU Radio's own serialization of `PMT_SAMPLES` as JSON hex strings on stdout.

The test module keeps the same data (`ramp`, the tag list) on its side, on purpose written
twice: this file must run under the system Python without daqflow.
"""

import json
import sys
import time

import numpy as np

TAG_OFFSETS = (0, 1, 17, 500, 999, 1234, 4095)


def ramp(n):
    """complex64 k - j*(k % 1000)/4: every value exact in float32, position readable."""
    k = np.arange(n)
    return (k - 1j * ((k % 1000) / 4)).astype(np.complex64)


def make_tags():
    import pmt
    from gnuradio import gr

    d = pmt.dict_add(pmt.make_dict(), pmt.intern("a"), pmt.from_long(1))
    d = pmt.dict_add(d, pmt.intern("b"), pmt.from_double(2.5))
    values = [
        (pmt.intern("gain"), pmt.from_long(30), pmt.intern("usrp")),
        (pmt.intern("rx_freq"), pmt.from_double(433.92e6), pmt.PMT_F),
        (pmt.intern("name"), pmt.intern("burst"), pmt.intern("src")),
        (pmt.intern("iq"), pmt.from_complex(1 - 2j), pmt.PMT_F),
        (pmt.intern("rx_time"), pmt.make_tuple(pmt.from_uint64(1700000000), pmt.from_double(0.25)),
         pmt.PMT_F),
        (pmt.intern("taps"), pmt.init_f32vector(3, [0.5, -1.0, 2.0]), pmt.PMT_F),
        (pmt.intern("meta"), d, pmt.PMT_NIL),
    ]
    out = []
    for offset, (key, value, srcid) in zip(TAG_OFFSETS, values, strict=True):
        tag = gr.tag_t()
        tag.offset, tag.key, tag.value, tag.srcid = offset, key, value, srcid
        out.append(tag)
    return out


def pmt_samples():
    """name -> a PMT (made by GNU Radio's pmt module)."""
    import pmt

    return {
        "int": pmt.from_long(-3),
        "int64": pmt.from_long(2**40),
        "uint64": pmt.from_uint64(2**63 + 5),
        "double": pmt.from_double(-1.25),
        "complex": pmt.from_complex(1 + 2j),
        "true": pmt.PMT_T,
        "false": pmt.PMT_F,
        "nil": pmt.PMT_NIL,
        "symbol": pmt.intern("héllo"),
        "pair": pmt.cons(pmt.intern("a"), pmt.from_long(1)),
        "tuple": pmt.make_tuple(pmt.from_long(1), pmt.intern("x"), pmt.PMT_T),
        "vector": pmt.make_vector(2, pmt.from_double(0.5)),
        "f32vector": pmt.init_f32vector(2, [1.0, -2.0]),
        "c32vector": pmt.init_c32vector(2, [1 + 1j, -0.5j]),
        "s16vector": pmt.init_s16vector(3, [-1, 2, 32767]),
        "u8vector": pmt.init_u8vector(3, [1, 2, 255]),
        "dict": pmt.dict_add(pmt.dict_add(pmt.make_dict(), pmt.intern("a"), pmt.from_long(1)),
                             pmt.intern("b"), pmt.from_double(2.0)),
    }


def tag_recorder():
    """A sink block that keeps the tags it sees (absolute offset, key, serialized value)."""
    import pmt
    from gnuradio import gr

    class TagRecorder(gr.sync_block):
        def __init__(self):
            gr.sync_block.__init__(self, name="tag_recorder", in_sig=[np.complex64], out_sig=None)
            self.seen = []

        def work(self, input_items, output_items):
            for tag in self.get_tags_in_window(0, 0, len(input_items[0])):
                self.seen.append({"offset": tag.offset, "key": pmt.symbol_to_string(tag.key),
                                  "value": pmt.serialize_str(tag.value).hex(),
                                  "srcid": pmt.serialize_str(tag.srcid).hex()})
            return len(input_items[0])

    return TagRecorder()


def main(argv):
    import pmt
    from gnuradio import blocks, gr, zeromq

    case = argv[0]
    if case == "pmt":
        print(json.dumps({name: pmt.serialize_str(p).hex() for name, p in pmt_samples().items()}))
        return
    address, n = argv[1], int(argv[2])
    top = gr.top_block()
    if case in ("push", "pub"):
        pass_tags = argv[3] == "1"
        repeat = case == "pub"
        source = blocks.vector_source_c(ramp(n).tolist(), repeat, 1, make_tags())
        if case == "push":
            sink = zeromq.push_sink(gr.sizeof_gr_complex, 1, address, 100, pass_tags, -1)
            top.connect(source, sink)
        else:
            throttle = blocks.throttle(gr.sizeof_gr_complex, float(argv[4]))
            sink = zeromq.pub_sink(gr.sizeof_gr_complex, 1, address, 100, pass_tags, -1)
            top.connect(source, throttle, sink)
        top.run()
        return
    out = argv[3]
    if case == "pull":
        pass_tags = argv[4] == "1"
        source = zeromq.pull_source(gr.sizeof_gr_complex, 1, address, 100, pass_tags, -1)
    elif case == "sub":
        pass_tags = False
        source = zeromq.sub_source(gr.sizeof_gr_complex, 1, address, 100, False, -1)
    else:
        raise SystemExit(f"unknown case {case!r}")
    head = blocks.head(gr.sizeof_gr_complex, n)
    sink = blocks.file_sink(gr.sizeof_gr_complex, out, False)
    sink.set_unbuffered(True)
    top.connect(source, head, sink)
    recorder = None
    if pass_tags:
        recorder = tag_recorder()
        top.connect(head, recorder)
    # a zeromq source never ends by itself, and head ending does not stop it: stop the graph
    top.start()
    deadline = time.monotonic() + 60
    sinks = [sink] if recorder is None else [sink, recorder]
    while min(b.nitems_read(0) for b in sinks) < n and time.monotonic() < deadline:
        time.sleep(0.01)
    top.stop()
    top.wait()
    sink.close()
    if sink.nitems_read(0) < n:
        raise SystemExit(f"only {sink.nitems_read(0)} of {n} samples arrived")
    if recorder is not None:
        with open(out + ".tags.json", "w") as f:
            json.dump(recorder.seen, f)


if __name__ == "__main__":
    main(sys.argv[1:])
