/*
 * offsets.h — every CPython layout fact the frame reader uses, as data.
 *
 * One const struct spy_offsets per supported minor version lives in
 * offsets_3_<minor>.h, generated at development time by offsets_gen.c
 * compiled against that version's own headers (scripts/gen_offsets.sh) and
 * checked in, so building the agent needs no Python headers.  Offsets and
 * sizes are bytes; -1 means "this version has no such field".
 *
 * On 3.13 the running interpreter describes part of its own layout in
 * _Py_DebugOffsets (at &_PyRuntime); SPY_DEBUG_FIELDS maps those entries
 * onto ours so attach() can validate and compare them (reader.c).
 */
#ifndef SPY_OFFSETS_H
#define SPY_OFFSETS_H

#include <stddef.h>
#include <stdint.h>

struct spy_interp;

/* The 3.13 free-threaded and debug flavours are refused, so one table per
 * minor version (x86-64 and aarch64 Linux share these layouts). */
struct spy_offsets {
    int32_t major, minor;

    /* _PyRuntimeState */
    int32_t rt_size;
    int32_t rt_interpreters_head;
    int32_t rt_main_thread;
    int32_t rt_ceval_gil;           /* the GIL struct inside the runtime (3.9-3.11) */

    /* PyInterpreterState */
    int32_t is_size;
    int32_t is_next;
    int32_t is_id;
    int32_t is_threads_head;
    int32_t is_sysdict;
    int32_t is_builtins;
    int32_t is_ceval_gil;           /* pointer to the GIL struct (3.12+) */

    /* struct _gil_runtime_state */
    int32_t gil_size;
    int32_t gil_locked;             /* int */
    int32_t gil_last_holder;        /* pointer-sized */

    /* PyThreadState */
    int32_t ts_size;
    int32_t ts_next;
    int32_t ts_interp;
    int32_t ts_frame;               /* frame (3.9/3.10), cframe (3.11/3.12), current_frame (3.13) */
    int32_t ts_thread_id;
    int32_t ts_native_thread_id;    /* 3.11+ */
    int32_t ts_datastack_chunk;     /* 3.11+ */
    int32_t ts_datastack_top;       /* 3.11+ */

    /* _PyCFrame (3.11/3.12) */
    int32_t cframe_current_frame;

    /* PyFrameObject (3.9/3.10) */
    int32_t fo_back;
    int32_t fo_code;
    int32_t fo_gen;
    int32_t fo_lasti;               /* int */
    int32_t fo_localsplus;
    int32_t lasti_unit;             /* bytes per f_lasti step: 1 (3.9), 2 (3.10) */

    /* _PyInterpreterFrame (3.11+) */
    int32_t if_previous;
    int32_t if_code;                /* f_code (3.11/3.12), f_executable (3.13) */
    int32_t if_instr;               /* prev_instr (3.11/3.12), instr_ptr (3.13) */
    int32_t if_localsplus;
    int32_t if_owner;               /* char */
    int32_t owned_by_generator;
    int32_t owned_by_cstack;        /* 3.12+; -1 before */

    /* _PyStackChunk (3.11+) */
    int32_t chunk_previous;
    int32_t chunk_size;
    int32_t chunk_top;
    int32_t chunk_data;

    /* PyCodeObject */
    int32_t co_name;                /* co_qualname on 3.11+, co_name before */
    int32_t co_filename;
    int32_t co_linetable;           /* co_lnotab on 3.9 */
    int32_t co_firstlineno;         /* int */
    int32_t co_code_adaptive;       /* 3.11+ */

    /* objects */
    int32_t ob_type;
    int32_t ob_size;
    int32_t bytes_sval;
    int32_t tp_basicsize;
    int32_t tp_name;                /* const char * */
    int32_t tp_dictoffset;
    int32_t tp_flags;               /* unsigned long */
    int32_t ht_cached_keys;
    uint64_t tpflags_managed_dict;  /* 3.11+; 0 before */
    uint64_t tpflags_inline_values; /* 3.13+; 0 before */
    int32_t managed_dict_offset;    /* 3.13: where a managed dict pointer sits, from the object */

    /* str: PyASCIIObject / PyCompactUnicodeObject and the state bits */
    int32_t uni_length;
    int32_t uni_state;              /* a 32-bit word holding the bit fields */
    int32_t uni_ascii_size;         /* sizeof(PyASCIIObject) */
    int32_t uni_compact_size;       /* sizeof(PyCompactUnicodeObject) */
    uint32_t uni_kind_mask;
    int32_t uni_kind_shift;
    uint32_t uni_compact_bit;
    uint32_t uni_ascii_bit;

    /* dicts */
    int32_t dict_ma_keys;
    int32_t dict_ma_values;
    int32_t dk_size;                /* Py_ssize_t dk_size (3.9/3.10) */
    int32_t dk_log2_size;           /* uint8 (3.11+) */
    int32_t dk_log2_index_bytes;    /* uint8 (3.11+) */
    int32_t dk_kind;                /* uint8 (3.11+) */
    int32_t dk_nentries;
    int32_t dk_indices;
    int32_t dk_kind_general;        /* DICT_KEYS_GENERAL (3.11+) */
    int32_t dict_entry_size;        /* PyDictKeyEntry: hash, key, value */
    int32_t dict_entry_key;
    int32_t dict_entry_value;
    int32_t dict_uentry_size;       /* PyDictUnicodeEntry (3.11+): key, value */
    int32_t dict_uentry_key;
    int32_t dict_uentry_value;
    int32_t dict_values_values;     /* PyDictValues.values (3.13; 0 before) */
    int32_t dict_values_valid;      /* PyDictValues.valid (3.13) */

    /* generators and coroutines, for the asyncio task reader (tasks.c):
     * PyGenObject, whose head coroutines and async generators share */
    int32_t gen_frame;              /* gi_frame, a frame object (3.9/3.10) */
    int32_t gen_running;            /* gi_running, char (3.9) */
    int32_t gen_frame_state;        /* gi_frame_state, int8 (3.11+) */
    int32_t gen_iframe;             /* gi_iframe, the embedded interpreter frame (3.11+) */
    /* frame states (f_state on 3.10, gi_frame_state on 3.11+; 3.9 has none) */
    int32_t state_created;
    int32_t state_executing;
    int32_t state_suspended_yf;     /* FRAME_SUSPENDED_YIELD_FROM (3.13); 100 = none */
    int32_t state_cleared;
    /* the value stack of a suspended frame */
    int32_t fo_valuestack;          /* f_valuestack (3.9/3.10) */
    int32_t fo_stacktop;            /* f_stacktop (3.9): NULL unless suspended */
    int32_t fo_stackdepth;          /* int f_stackdepth (3.10) */
    int32_t fo_state;               /* int8 f_state (3.10) */
    int32_t if_stacktop;            /* int stacktop, in slots past localsplus (3.11+) */
    int32_t co_code;                /* co_code, a bytes object (3.9/3.10) */
    /* "suspended in an await": the next instruction is YIELD_FROM (3.9/3.10)
     * or RESUME (or what stands for it) with oparg >= 2 (3.11/3.12) */
    int32_t op_yield_from;
    int32_t op_resume;
    int32_t op_resume_alt;          /* RESUME_QUICK (3.11), INSTRUMENTED_RESUME (3.12); -1 if none */

    /* sets, weak references and ints */
    int32_t set_used;
    int32_t set_mask;
    int32_t set_table;
    int32_t setentry_size;
    int32_t setentry_key;
    int32_t wr_object;
    int32_t long_size;              /* ob_size (3.9-3.11), lv_tag (3.12+) */
    int32_t long_digits;            /* ob_digit */
    int32_t long_tag_shift;         /* 3.12+: digits = lv_tag >> shift, sign in the low bits; 0 before */
    int32_t long_digit_bits;        /* PyLong_SHIFT */

    /* _Py_DebugOffsets (3.13): its size and where each mapped entry sits */
    int32_t dbg_size;
    int32_t dbg_at[32];
};

/* _Py_DebugOffsets entries and the spy_offsets fields they describe:
 * X(id, our field, its path in _Py_DebugOffsets, a bound it must stay under
 * given the table `o`: the size of the struct it lies in). */
#define SPY_DEBUG_FIELDS(X) \
    X(RT_SIZE, rt_size, runtime_state.size, (1 << 20)) \
    X(RT_INTERP_HEAD, rt_interpreters_head, runtime_state.interpreters_head, o->rt_size) \
    X(IS_SIZE, is_size, interpreter_state.size, (1 << 20)) \
    X(IS_ID, is_id, interpreter_state.id, o->is_size) \
    X(IS_NEXT, is_next, interpreter_state.next, o->is_size) \
    X(IS_THREADS_HEAD, is_threads_head, interpreter_state.threads_head, o->is_size) \
    X(IS_SYSDICT, is_sysdict, interpreter_state.sysdict, o->is_size) \
    X(IS_BUILTINS, is_builtins, interpreter_state.builtins, o->is_size) \
    X(IS_CEVAL_GIL, is_ceval_gil, interpreter_state.ceval_gil, o->is_size) \
    X(TS_SIZE, ts_size, thread_state.size, (1 << 20)) \
    X(TS_NEXT, ts_next, thread_state.next, o->ts_size) \
    X(TS_INTERP, ts_interp, thread_state.interp, o->ts_size) \
    X(TS_FRAME, ts_frame, thread_state.current_frame, o->ts_size) \
    X(TS_THREAD_ID, ts_thread_id, thread_state.thread_id, o->ts_size) \
    X(TS_NATIVE_ID, ts_native_thread_id, thread_state.native_thread_id, o->ts_size) \
    X(TS_CHUNK, ts_datastack_chunk, thread_state.datastack_chunk, o->ts_size) \
    X(IF_PREVIOUS, if_previous, interpreter_frame.previous, o->if_localsplus) \
    X(IF_CODE, if_code, interpreter_frame.executable, o->if_localsplus) \
    X(IF_INSTR, if_instr, interpreter_frame.instr_ptr, o->if_localsplus) \
    X(IF_OWNER, if_owner, interpreter_frame.owner, o->if_localsplus) \
    X(CO_FILENAME, co_filename, code_object.filename, o->co_code_adaptive) \
    X(CO_QUALNAME, co_name, code_object.qualname, o->co_code_adaptive) \
    X(CO_LINETABLE, co_linetable, code_object.linetable, o->co_code_adaptive) \
    X(CO_FIRSTLINENO, co_firstlineno, code_object.firstlineno, o->co_code_adaptive) \
    X(OB_TYPE, ob_type, pyobject.ob_type, 4096) \
    X(TP_FLAGS, tp_flags, type_object.tp_flags, 4096) \
    X(DICT_MA_KEYS, dict_ma_keys, dict_object.ma_keys, 4096) \
    X(DICT_MA_VALUES, dict_ma_values, dict_object.ma_values, 4096) \
    X(BYTES_OB_SIZE, ob_size, bytes_object.ob_size, 4096) \
    X(BYTES_SVAL, bytes_sval, bytes_object.ob_sval, 4096) \
    X(UNI_LENGTH, uni_length, unicode_object.length, o->uni_ascii_size) \
    X(UNI_ASCII_SIZE, uni_ascii_size, unicode_object.asciiobject_size, o->uni_compact_size)

enum spy_debug_field {
#define SPY_DBG_ENUM(id, field, path, in) SPY_DBG_##id,
    SPY_DEBUG_FIELDS(SPY_DBG_ENUM)
#undef SPY_DBG_ENUM
    SPY_DBG_COUNT
};
_Static_assert(SPY_DBG_COUNT <= 32, "dbg_at too small");

/* A str object's text as UTF-8 (reader.c, shared with tasks.c): 0, or -1
 * if addr does not read as a compact str. */
int spy_read_str(const struct spy_offsets *o, const struct spy_interp *ip, uint64_t addr, char *out, size_t cap);
/* The value of a str key in a dict, and an attribute in an instance's
 * __dict__ (reader.c): the object's address, 0 if absent or unreadable. */
uint64_t spy_dict_lookup(const struct spy_offsets *o, const struct spy_interp *ip, uint64_t dict, const char *want);
uint64_t spy_attribute(const struct spy_offsets *o, const struct spy_interp *ip, uint64_t obj, const char *want);

/* The tables this build carries, and the one for a minor version (NULL if
 * none). */
const struct spy_offsets *spy_offsets_for(int major, int minor);

#endif
