#!/usr/bin/env python3
"""check_layers.py SOURCE_ROOT [--module SO] [--spyctl EXE] [LAYER=LIB.a ...]

Keeps the agent's floors in order (docs/DESIGN.md, "Layers"):

    base < sampling < formats < reports < serving < lifecycle

1. Includes: no file under agent/<layer>/ includes a header of a higher
   layer, nothing under agent/ includes a spyctl/ header, spyctl/ includes
   only base, formats and reports (and its own), and each folder of
   tests/unit/ includes only its own layer and the layers below.
   include/spyagent.h is the public contract (types and entry points) and
   may be included anywhere; calls through it are caught by check 2.
2. Symbols: an object of layer L refers to no symbol defined in a layer
   above L (from the static library of each layer, given as LAYER=LIB.a).
3. Linking: the in-process module (--module) carries none of the code that
   only spyctl needs (the libraries named formats_offline= and
   reports_offline=), and spyctl (--spyctl) carries none of sampling,
   serving or lifecycle.

Prints one line per check and each offence; exits 1 if any failed.
"""
import os
import re
import subprocess
import sys

LAYERS = ['base', 'sampling', 'formats', 'reports', 'serving', 'lifecycle']
RANK = {name: i for i, name in enumerate(LAYERS)}
# the libraries that hold a layer's spyctl-only part
OFFLINE = {'formats_offline': 'formats', 'reports_offline': 'reports'}
SPYCTL_MAY_INCLUDE = {'base', 'formats', 'reports', 'public', 'spyctl'}

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)

failures = []


def fail(what):
    failures.append(what)
    print('      ' + what)


def sources(root, sub):
    top = os.path.join(root, sub)
    for d, _, files in os.walk(top):
        for f in sorted(files):
            if f.endswith(('.c', '.h', '.c.in')):
                yield os.path.join(d, f)


def header_index(root):
    """Header basename -> (layer, path) for every header we own."""
    index = {}
    for layer in LAYERS:
        for path in sources(root, os.path.join('agent', layer)):
            if path.endswith('.h'):
                index.setdefault(os.path.basename(path), []).append((layer, path))
    for path in sources(root, 'include'):
        index.setdefault(os.path.basename(path), []).append(('public', path))
    for path in sources(root, 'spyctl'):
        if path.endswith('.h'):
            index.setdefault(os.path.basename(path), []).append(('spyctl', path))
    return index


def resolve(index, path, name):
    """The layer of the header `name` included from `path`, or None."""
    near = os.path.normpath(os.path.join(os.path.dirname(path), name))
    if os.path.exists(near):
        for entries in index.values():
            for layer, p in entries:
                if os.path.normpath(p) == near:
                    return layer
        return 'local'
    found = index.get(os.path.basename(name), [])
    if len(found) > 1:
        fail('%s: "%s" names %d headers: %s' % (path, name, len(found), ', '.join(p for _, p in found)))
    return found[0][0] if found else None


def allowed(src_layer, dst_layer):
    if dst_layer in (None, 'local', 'public'):
        return True
    if src_layer == 'spyctl':
        return dst_layer in SPYCTL_MAY_INCLUDE
    if dst_layer == 'spyctl':
        return False
    return RANK[dst_layer] <= RANK[src_layer]


def check_includes(root):
    index = header_index(root)
    before = len(failures)
    groups = [(layer, os.path.join('agent', layer)) for layer in LAYERS]
    groups += [('spyctl', 'spyctl')]
    groups += [(layer, os.path.join('tests', 'unit', layer)) for layer in LAYERS
               if os.path.isdir(os.path.join(root, 'tests', 'unit', layer))]
    files = 0
    for layer, sub in groups:
        for path in sources(root, sub):
            files += 1
            with open(path, encoding='utf-8') as f:
                text = f.read()
            for name in INCLUDE.findall(text):
                dst = resolve(index, path, name)
                if not allowed(layer, dst):
                    fail('%s (%s) includes "%s" (%s)' % (os.path.relpath(path, root), layer, name, dst))
    if files == 0:
        fail('no sources found under %s/agent' % root)
    report('no include runs up a layer (%d files)' % files, before)


def symbols(path, local=False):
    """(defined, undefined) symbols of each object in an archive or binary;
    local: count local definitions too (a linked object's hidden ones)."""
    out = subprocess.run(['nm', '-A', path], capture_output=True, text=True, check=True).stdout
    defined, undefined = {}, {}
    for line in out.splitlines():
        where, _, rest = line.rpartition(': ')
        if not where:
            where, rest = path, line
        parts = rest.split()
        if len(parts) == 3 and (parts[1] in 'TDBRCV' or (local and parts[1] in 'tdbr')):
            defined.setdefault(where, set()).add(parts[2])
        elif len(parts) == 2 and parts[0] == 'U':
            undefined.setdefault(where, set()).add(parts[1])
    return defined, undefined


def check_symbols(libs):
    before = len(failures)
    owner = {}                      # symbol -> layer that defines it
    undefined = []                  # (layer, object, symbol)
    for name, lib in libs.items():
        layer = OFFLINE.get(name, name)
        d, u = symbols(lib)
        for syms in d.values():
            for s in syms:
                owner[s] = layer
        for obj, syms in u.items():
            undefined += [(layer, obj, s) for s in syms]
    for layer, obj, s in sorted(undefined):
        up = owner.get(s)
        if up is not None and RANK[up] > RANK[layer]:
            fail('%s (%s) calls %s, defined in %s' % (os.path.basename(obj), layer, s, up))
    if not owner:
        fail('no symbols found in the libraries given')
    report('no object calls up a layer (%d libraries)' % len(libs), before)
    return owner


def defined_in(binary):
    d, _ = symbols(binary, local=True)
    return set().union(*d.values()) if d else set()


def check_carries_none(binary, libs, names, what, missing):
    """binary defines no global symbol of the libraries called names."""
    before = len(failures)
    banned = set()
    for name in names:
        if name in libs:
            banned |= set().union(*symbols(libs[name])[0].values())
    for s in sorted(defined_in(binary) & banned):
        fail('%s carries %s, %s' % (os.path.basename(binary), s, what))
    if not banned:
        fail(missing)
    return before


def check_links(libs, module, spyctl):
    if module:
        before = check_carries_none(module, libs, OFFLINE, 'which only spyctl needs',
                                    'no spyctl-only libraries given (formats_offline=, reports_offline=)')
        report('the in-process module carries no spyctl-only code', before)
    if spyctl:
        before = check_carries_none(spyctl, libs, ('sampling', 'serving'), 'of sampling or serving',
                                    'no sampling= or serving= library given')
        report('spyctl carries no sampling, serving or lifecycle code', before)


passed = 0


def report(what, before):
    global passed
    if len(failures) == before:
        passed += 1
        print('ok    ' + what)
    else:
        print('FAIL  ' + what)


def main(argv):
    if len(argv) < 2:
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        return 2
    root = argv[1]
    module = spyctl = None
    libs = {}
    args = argv[2:]
    while args:
        a = args.pop(0)
        if a == '--module':
            module = args.pop(0)
        elif a == '--spyctl':
            spyctl = args.pop(0)
        elif '=' in a:
            name, lib = a.split('=', 1)
            if OFFLINE.get(name, name) not in RANK:
                print('check_layers: unknown layer "%s" (expected one of %s, formats_offline, reports_offline)'
                      % (name, ', '.join(LAYERS)), file=sys.stderr)
                return 2
            libs[name] = lib
        else:
            print('check_layers: unexpected argument "%s"' % a, file=sys.stderr)
            return 2
    check_includes(root)
    if libs:
        check_symbols(libs)
        check_links(libs, module, spyctl)
    print('%d passed, %d failed' % (passed, len(failures)))
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
