#!/usr/bin/env python3
"""Make the native engine's extra fixture checkpoints (tests/fixtures/models/<variant>/) with
transformers: each is a fixture config with one family option changed, random weights
(N(0, 0.15); norm weights 1 + N(0, 0.15)), saved with save_pretrained, and reference.json with the
prompt logits and 16 greedy ids (full forward per step, no EOS stop).
Run from the repository root with torch and transformers installed:
    OUT=/tmp/variants python3 scripts/make_engine_variants.py
Made with transformers 5.17.0 / torch 2.11.0 (CPU, float32)."""
import json,os,torch,transformers as T
F='tests/fixtures/models/';O=os.environ['OUT'];P=[77,238,235,490,397,92,364,204,377,182,224]
def mk(name,src,edit):
    c=T.AutoConfig.from_pretrained(F+src);edit(c);torch.manual_seed(7)
    m=T.AutoModelForCausalLM.from_config(c).float().eval()
    with torch.no_grad():
        for n,p in m.named_parameters():
            p.copy_(torch.randn_like(p)*0.15+(1.0 if p.dim()==1 and ('norm' in n or 'ln' in n) and n.endswith('weight') else 0.0))
        d=O+'/'+name;m.save_pretrained(d)
        lg=m(torch.tensor([P])).logits[0];ids=list(P);g=[];mg=[]
        for _ in range(16):
            l=m(torch.tensor([ids])).logits[0,-1];t=l.topk(2);g.append(int(t.indices[0]));mg.append(float(t.values[0]-t.values[1]));ids.append(g[-1])
    json.dump({'arch':c.model_type,'variant':name,'prompt_ids':P,'greedy_ids':g,'greedy_top2_margins':mg,'logits_shape':list(lg.shape),'logits':[round(float(x),6) for x in lg.flatten()],'transformers_version':T.__version__,'torch_version':torch.__version__},open(d+'/reference.json','w'))
    print(name,min(mg),sorted(os.listdir(d)))
def neox(c):c.use_parallel_residual=False
def bloom(c):c.n_head=6;c.num_attention_heads=6;c.hidden_size=96;c.apply_residual_connection_post_layernorm=True
def big(c):
    c.multi_query=False
    if hasattr(c,'num_key_value_heads'):c.num_key_value_heads=c.num_attention_heads
def llama(c):c.attention_bias=True;c.mlp_bias=True;c.num_key_value_heads=1
for a in [('gpt_neox_sequential','gpt_neox',neox),('bloom_6heads_postln','bloom',bloom),('gpt_bigcode_mha','gpt_bigcode',big),('llama_bias_mqa','llama',llama)]:
    try:mk(*a)
    except Exception as e:print(a[0],'ERR',repr(e))
