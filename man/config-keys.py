#!/usr/bin/env python3
"""Maintainer tool: regenerate the CONFIGURATION key list of man/sinkrb.1
from the schema in src/cfg/schema.c (between the BEGIN/END CONFIG KEYS
comments); choice keys name a module's name table (core/names.h), whose
strings are read from the module's source. `make check` verifies the page documents every key and default."""
import re, sys, os

top = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
src = open(os.path.join(top, 'src/cfg/schema.c')).read()
body = src[src.index('const sk_cfg_key sk_cfg_schema[]'):src.index('const int sk_cfg_n_schema')]
entries = re.findall(r'\b(STR|INT|FLT|BOOL|ENUMA|ENUM|ILIST|ELIST|SLIST|FLIST|PLIST)\((.*?)\),\n', body, re.S)

def name_table(ident):
    """The names of a table `const char *const IDENT[] = {[X] = "a", ...};` in src/, in order."""
    for root, _, files in os.walk(os.path.join(top, 'src')):
        for f in files:
            if not f.endswith('.c'):
                continue
            text = open(os.path.join(root, f)).read()
            m = re.search(r'const char \*const %s\[\] = \{(.*?)\};' % re.escape(ident), text, re.S)
            if m:
                return re.findall(r'"([^"]*)"', m.group(1))
    sys.exit('name table %s not found under src/' % ident)
types = {'STR': 'string', 'INT': 'integer', 'FLT': 'number', 'BOOL': 'boolean', 'ENUM': 'choice',
         'ILIST': 'list of integers', 'ELIST': 'list of choices', 'SLIST': 'list of strings', 'FLIST': 'list of numbers',
         'PLIST': 'list of [A, B] pairs'}
out, sec = [], None
for kind, args in entries:
    ss = re.findall(r'"((?:[^"\\]|\\.)*)"', args)
    key, default = ss[0], ss[1].replace('\\"', '"')
    if kind in ('ENUM', 'ENUMA', 'ELIST'):
        ident = re.search(r'\b(sk_\w+_names)\b', args).group(1)
        choices = '|'.join(name_table(ident))
        doc = ''.join(ss[3:] if kind == 'ENUMA' else ss[2:])
        kind = 'ENUM' if kind == 'ENUMA' else kind
    else:
        choices, doc = None, ''.join(ss[2:])
    top_sec = key.split('.')[0] if '.' in key else ''
    if top_sec != sec:
        sec = top_sec
        out.append('.SS %s' % (top_sec if top_sec else 'Top level'))
    t = types[kind]
    if choices:
        t += ': ' + choices.split(';')[0].replace('|', ' | ')
    doc = doc[0].upper() + doc[1:]
    doc = doc.replace('\\', '\\e')
    out.append('.TP\n.B %s\n(%s; default \\fB%s\\fR)\n%s.' % (key, t, default.replace('\\', '\\e'), doc))
page_path = os.path.join(top, 'man/sinkrb.1')
page = open(page_path).read()
b, e = '.\\" BEGIN CONFIG KEYS\n', '.\\" END CONFIG KEYS\n'
i, j = page.index(b) + len(b), page.index(e)
page = page[:i] + '\n'.join(out) + '\n' + page[j:]
open(page_path, 'w').write(page)
print('%d keys' % len(entries))
