#!/usr/bin/env python3
# Reference values of the studentized range upper tail P(Q_{k,df} > q) with mpmath (20 digits),
# integrated directly as the tail (no 1 - cdf); both integrands are rescaled to O(1) because
# mp.quad stops on an absolute tolerance. Reads "q k df" lines, prints "q k df p".
# Used to make tests/fixtures/stats/ptukey_mpmath.txt (minutes per point).
import mpmath as mp, sys, time
mp.mp.dps = 20
def R(w,k):
    w=mp.mpf(w)
    def f(z):
        a=mp.ncdf(z); t=mp.ncdf(z-w)
        b=a-t if z<w else (mp.ncdf(w-z)-mp.ncdf(-z))
        s=mp.mpf(1); bp=mp.mpf(1)
        for m in range(1,k-1):
            bp*=b; s=a*s+bp
        return mp.npdf(z)*t*s
    c=w/2
    sc=mp.exp(w*w/4)  # rescale to O(1): mp.quad stops on an absolute tolerance
    return k*mp.quad(lambda z: f(z)*sc,[c-9,c-2,c,c+2,c+9] if w>8 else [-9,-3,0,3,c+9])/sc
def P(q,k,df):
    q=mp.mpf(q); df=mp.mpf(df)
    ln=df/2*mp.log(df/2)+mp.log(2)-mp.loggamma(df/2)
    def g(u):
        s=mp.exp(u)
        return mp.exp(ln+df*u-df*s*s/2)*R(q*s,k)
    sd=1/mp.sqrt(2*df)
    # rescale the outer integrand by its largest value on a grid (absolute tolerance again)
    grid=[-60/df + i*(60/df+1)/40 for i in range(41)]
    sc=max(g(mp.mpf(u)) for u in grid)
    g0=g
    g=lambda u: g0(u)/sc
    pts=sorted(set([-130/df, -30/df, -8/df, -2/df, -6*sd, -3*sd, 0, 3*sd, 6*sd, max(12*sd, mp.mpf(0.5)), 3]))
    return mp.quad(g,pts)*sc
for line in sys.stdin:
    q,k,df=line.split()
    t=time.time()
    print(q,k,df,mp.nstr(P(q,int(k),df),17), flush=True)
    print('#time',time.time()-t, file=sys.stderr, flush=True)
