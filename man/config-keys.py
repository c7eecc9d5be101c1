#!/usr/bin/env python3
"""Maintainer tool: regenerate the CONFIGURATION key list of man/sinkrb.1
from the schema in src/io/config.c (between the BEGIN/END CONFIG KEYS
comments). `make check` verifies the page documents every key and default."""
import re, sys, os

top = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
src = open(os.path.join(top, 'src/io/config.c')).read()
body = src[src.index('static const key_t_ schema[]'):src.index('#define N_KEYS')]
entries = re.findall(r'\b(STR|INT|FLT|BOOL|ENUM|ILIST|ELIST)\((.*?)\),\n', body, re.S)
types = {'STR': 'string', 'INT': 'integer', 'FLT': 'number', 'BOOL': 'boolean', 'ENUM': 'choice',
         'ILIST': 'list of integers', 'ELIST': 'list of choices'}
out, sec = [], None
for kind, args in entries:
    ss = re.findall(r'"((?:[^"\\]|\\.)*)"', args)
    key, default = ss[0], ss[1].replace('\\"', '"')
    if kind in ('ENUM', 'ELIST'):
        choices, doc = ss[2], ''.join(ss[3:])
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
