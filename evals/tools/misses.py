#!/usr/bin/env python3
"""Why must-include key facts are missed: for each format and corpus, how many facts are covered,
misplaced (a sentence cites one of the fact's cues, but in another section) or unselected (no
sentence cites any of its cues). V=1 lists every miss.

    hearth-evals scribe --corpus ../shared/corpus --corpus evals/corpus --drafts /tmp/drafts
    python3 evals/tools/misses.py /tmp/drafts ../shared/corpus evals/corpus
"""
import json,sys,glob,os,collections
drafts=sys.argv[1]; corpora=sys.argv[2:]
gold={}
for c in corpora:
    for g in glob.glob(os.path.join(c,'*.gold.json')):
        d=json.load(open(g)); gold[d['stem']]=d
FM={'soap':'SOAP','dap':'DAP','birp':'BIRP','girp':'GIRP'}
tot=collections.Counter()
for f in sorted(glob.glob(drafts+'/*.json')):
    stem,fmt,_=os.path.basename(f).rsplit('.',2)
    if fmt not in FM: continue
    F=FM[fmt]; d=json.load(open(f)); g=gold[stem]
    cites=collections.defaultdict(set)  # cue -> sections
    for s in d['sections']:
        for se in s['sentences']:
            for c in se['evidence']: cites[c].add(s['key'])
    for k in g['key_facts']:
        if not k.get('must_include',True): continue
        sec=k['section'][F]; secs=set(sec) if isinstance(sec,list) else {sec}
        ev=k['evidence_cues']
        got=set().union(*[cites[c] for c in ev]) if ev else set()
        corpus='pub' if stem.startswith('s') else 'proj'
        tot[(F,corpus,'n')]+=1
        if got & secs: tot[(F,corpus,'hit')]+=1
        elif got: tot[(F,corpus,'misplaced')]+=1; 
        else: tot[(F,corpus,'unselected')]+=1
        if os.environ.get('V') and not (got&secs):
            print(F,stem,k['id'],secs,'got',sorted(got),ev,k['fact'][:90])
for F in ['SOAP','DAP','BIRP','GIRP']:
    for c in ['pub','proj']:
        n=tot[(F,c,'n')]
        print(F,c,n,'hit %.2f'%(tot[(F,c,'hit')]/n),'misplaced',tot[(F,c,'misplaced')],'unselected',tot[(F,c,'unselected')])
