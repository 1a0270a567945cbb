import { describe, expect, it } from 'vitest';
import {
  type AnalysisPlotInput,
  downsampleMinMax,
  type PlotEcdf,
  plotFormatFor,
  renderAnalysisPlot,
} from '../../src/analysis/plot.js';

const EVIL = 'stealth<script>alert(1)</script>';

/** Small input: reference class 'normal' (bin 0.5 s), subject EVIL (bin 1 s), one KS comparison. */
function smallInput(): AnalysisPlotInput {
  return {
    title: 'normal vs stealth',
    series: [
      {
        name: 'normal',
        binSeconds: 0.5,
        packets: [10, 12, 8, 11, 9, 10],
        bytes: [15000, 18000, 12000, 16500, 13500, 15000],
      },
      {
        name: EVIL,
        binSeconds: 1,
        packets: Uint32Array.from([20, 22, 18, 21]),
        bytes: Float64Array.from([30000, 33000, 27000, 31500]),
      },
    ],
    ecdfs: [
      {
        feature: 'packets_per_bin',
        unit: 'packets',
        reference: 'normal',
        subject: EVIL,
        ref: { x: [8, 9, 10, 11, 12], f: [1 / 6, 2 / 6, 4 / 6, 5 / 6, 1] },
        sub: { x: [18, 20, 21, 22], f: [0.25, 0.5, 0.75, 1] },
        statistic: 1,
        pvalue: 0.0047619,
        n: 6,
        m: 4,
        distinguishable: true,
      },
    ],
  };
}

/** The `<g class="mark-line ...">` groups; a drawn line is one holding a `<path`. */
function lineGroups(svg: string): string[] {
  return svg
    .split('<g class="mark-line')
    .slice(1)
    .map((g) => g.slice(0, g.indexOf('</g>') === -1 ? undefined : g.indexOf('</g>')));
}

/** Every opening tag is closed in order (self-closing tags count as closed): "parses as XML-ish". */
function tagsBalanced(xml: string): boolean {
  const stack: string[] = [];
  for (const m of xml.matchAll(/<(\/?)([A-Za-z][\w:-]*)[^>]*?(\/?)>/g)) {
    if (m[3] === '/') continue;
    if (m[1] === '/') {
      if (stack.pop() !== m[2]) return false;
    } else stack.push(m[2]!);
  }
  return stack.length === 0;
}

describe('plotFormatFor', () => {
  it('picks the format from the extension, case-insensitively', () => {
    expect(plotFormatFor('out.svg')).toBe('svg');
    expect(plotFormatFor('dir.v2/Compare.SVG')).toBe('svg');
    expect(plotFormatFor('report.html')).toBe('html');
    expect(plotFormatFor('/tmp/report.HTM')).toBe('html');
  });

  it.each(['plot', 'plot.png', 'plot.svg.gz', 'plot.', 'svg', 'dir.svg/plot', '.html/x'])(
    'rejects %j with a usage error',
    (path) => {
      expect(() => plotFormatFor(path)).toThrow(
        expect.objectContaining({ code: 'SMIG_ERR_USAGE', message: '--plot: FILE must end in .svg or .html' }),
      );
    },
  );
});

describe('downsampleMinMax', () => {
  it('keeps first, last and each bucket’s min and max in index order', () => {
    // n = 10, 6 points → first + last + 2 buckets of 5: [5,1,9,3,7] → min@1 max@2; [2,8,0,6,4] → max@6 min@7
    const r = downsampleMinMax([5, 1, 9, 3, 7, 2, 8, 0, 6, 4], 6);
    expect(r.index).toEqual([0, 1, 2, 6, 7, 9]);
    expect(r.value).toEqual([5, 1, 9, 8, 0, 4]);
  });

  it('gives two points per bucket on varying data, never more than maxPoints', () => {
    const v = Float64Array.from({ length: 100_000 }, (_, i) => (i * 7919) % 1000);
    // 1999 buckets of 50 distinct values (919 is prime to 1000) → 2 each; bucket 0's min is bin 0 itself, so
    // first + 3998 − 1 + last
    expect(downsampleMinMax(v, 4000).index.length).toBe(3999);
    expect(downsampleMinMax(v, 101).index.length).toBeLessThanOrEqual(101);
    // below 4 counts as 4: one bucket, its min (0) is bin 0, then its first max (999), then the last bin
    expect(downsampleMinMax(v, 1).index).toEqual([0, v.indexOf(999), 99_999]);
  });

  it('returns short series whole, and empty for empty', () => {
    expect(downsampleMinMax([3, 1, 2], 4000)).toEqual({ index: [0, 1, 2], value: [3, 1, 2] });
    expect(downsampleMinMax([], 4000)).toEqual({ index: [], value: [] });
  });

  it('bounds a long series and keeps a one-bin spike and a one-bin gap', () => {
    const n = 1_000_003;
    const v = new Float64Array(n).fill(100);
    v[654_321] = 1e6;
    v[777_777] = 0;
    const r = downsampleMinMax(v);
    // 1999 buckets; a flat bucket gives one point (min = max = its first bin), the spike's and the gap's two;
    // index 0 is bucket 0's first bin; plus the last bin: 1999 + 2 + 1
    expect(r.index.length).toBe(2002);
    expect(r.index[0]).toBe(0);
    expect(r.index.at(-1)).toBe(n - 1);
    expect(r.value[r.index.indexOf(654_321)]).toBe(1e6);
    expect(r.value[r.index.indexOf(777_777)]).toBe(0);
    expect(Math.max(...r.value)).toBe(1e6);
    for (let k = 1; k < r.index.length; k++) expect(r.index[k]!).toBeGreaterThan(r.index[k - 1]!);
  });
});

describe('renderAnalysisPlot: svg', () => {
  it('renders one self-contained svg with a line per series, the names, the titles and the KS result', async () => {
    const svg = await renderAnalysisPlot(smallInput(), 'svg');
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    expect(svg).toContain('xmlns="http://www.w3.org/2000/svg"');
    expect(tagsBalanced(svg)).toBe(true);
    // 2 classes × (packets/s, bytes/s) + 2 ECDF step lines, each a drawn <path>
    expect(lineGroups(svg).filter((g) => g.includes('<path')).length).toBe(6);
    for (const text of [
      'normal vs stealth',
      'normal',
      'packets/s',
      'bytes/s',
      'seconds from first packet',
      'ECDF',
      'packets per bin (packets)',
      'packets per bin: distinguishable',
      'KS D = 1.0000, p = 0.00476, n = 6, m = 4',
    ]) {
      expect(svg).toContain(text);
    }
    // user text is escaped, never live markup
    expect(svg).toContain('stealth&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(svg).not.toContain('<script');
    // rate = count / bin width: normal's first bin 10 packets / 0.5 s, EVIL's 30000 B / 1 s
    expect(svg).toContain('seconds from first packet: 0; packets/s: 20; class: normal');
    expect(svg).toContain('seconds from first packet: 0; bytes/s: 30000; class: stealth&lt;script&gt;');
    // subtitle stats: normal mean 60/6/0.5 = 20, peak 12/0.5 = 24; EVIL bytes mean 121500/4 = 30375
    expect(svg).toContain('packets/s, bin 0.5 s: mean 20, peak 24');
    expect(svg).toContain('bytes/s, bin 1 s: mean 30.4k, peak 33k');
  });

  it('survives a class with zero packets and empty ECDFs', async () => {
    const input = smallInput();
    input.series.push({ name: 'idle', binSeconds: 1, packets: [], bytes: new Float64Array(0) });
    const empty: PlotEcdf = {
      feature: 'size',
      unit: 'B',
      reference: 'normal',
      subject: 'idle',
      ref: { x: [], f: [] },
      sub: { x: [], f: [] },
      statistic: 0,
      pvalue: 1,
      n: 0,
      m: 0,
      distinguishable: false,
    };
    input.ecdfs.push(empty, { ...empty, feature: 'iat', unit: 's' });
    const svg = await renderAnalysisPlot(input, 'svg');
    expect(tagsBalanced(svg)).toBe(true);
    expect(svg).toContain('packets/s, bin 1 s: no packets');
    expect(svg).toContain('packet size: not distinguishable');
    expect(svg).toContain('inter-arrival time (s)');
    expect(lineGroups(svg).filter((g) => g.includes('<path')).length).toBe(6);
    expect(svg).toContain('idle'); // still in the legend
  });

  it('uses a symlog axis with decade ticks for inter-arrival times that span decades and include zeros', async () => {
    const x = [0, 1e-6, 1e-5, 1e-3, 0.1, 2];
    const f = [0.1, 0.3, 0.5, 0.7, 0.9, 1];
    const input: AnalysisPlotInput = {
      title: 'iat',
      series: [],
      ecdfs: [
        {
          feature: 'iat',
          unit: 's',
          reference: 'a',
          subject: 'b',
          ref: { x, f },
          sub: { x: x.map((v) => v * 2), f },
          statistic: 0.2,
          pvalue: 0.99,
          n: 6,
          m: 6,
          distinguishable: false,
        },
        {
          feature: 'size',
          unit: 'B',
          reference: 'a',
          subject: 'b',
          ref: { x: [60, 1500], f: [0.5, 1] },
          sub: { x: [60, 1514], f: [0.4, 1] },
          statistic: 0.1,
          pvalue: 1,
          n: 2,
          m: 2,
          distinguishable: false,
        },
      ],
    };
    const svg = await renderAnalysisPlot(input, 'svg');
    expect(svg).toContain('inter-arrival time (s), symlog');
    expect(svg).toContain('packet size (B)<'); // 60–1514 B is not two decades: linear
    const labels = [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]);
    for (const tick of ['0', '1µ', '10µ', '100µ', '1m', '10m', '100m', '1']) expect(labels).toContain(tick);
  });

  it('draws a long series with a bounded path that still reaches the spike', async () => {
    const packets = new Uint32Array(200_000).fill(5);
    packets[123_457] = 1000;
    const input: AnalysisPlotInput = {
      title: 'long',
      series: [{ name: 'long', binSeconds: 1, packets, bytes: packets }],
      ecdfs: [],
    };
    const svg = await renderAnalysisPlot(input, 'svg');
    const paths = lineGroups(svg).map((g) => /\sd="([^"]*)"/.exec(g)?.[1] ?? '');
    expect(paths.length).toBe(2);
    for (const d of paths) {
      const points = [...d.matchAll(/[ML]([-\d.e]+),([-\d.e]+)/g)].map((m) => Number(m[2]));
      expect(points.length).toBeLessThanOrEqual(4000);
      expect(Math.min(...points)).toBe(0); // y domain top is the spike's 1000/s: drawn at the top edge
    }
    expect(svg).toContain('peak 1k');
  });

  it('rejects a non-positive bin width and mismatched ECDF arrays with an internal error', async () => {
    const bad = smallInput();
    bad.series[0]!.binSeconds = 0;
    await expect(renderAnalysisPlot(bad, 'svg')).rejects.toMatchObject({
      code: 'SMIG_ERR_INTERNAL',
      message: "plot: class 'normal' has bin width 0 s",
    });
    const skew = smallInput();
    skew.ecdfs[0]!.sub.f.pop();
    await expect(renderAnalysisPlot(skew, 'svg')).rejects.toMatchObject({ code: 'SMIG_ERR_INTERNAL' });
  });
});

describe('renderAnalysisPlot: html', () => {
  it('is a self-contained UTF-8 page with the inline svg, tables and escaped names', async () => {
    const html = await renderAnalysisPlot(smallInput(), 'html');
    expect(html.startsWith('<!DOCTYPE html>')).toBe(true);
    expect(html).toContain('<meta charset="utf-8">');
    expect(html).toContain('<title>normal vs stealth</title>');
    expect(html).toContain('<h1>normal vs stealth</h1>');
    expect(html).toMatch(/<figure><svg [^>]*>[\s\S]*<\/svg><\/figure>/);
    expect(html).not.toContain('<script');
    expect(html).not.toMatch(/\b(src|href)="https?:/);
    expect(html).toContain('<td>stealth&lt;script&gt;alert(1)&lt;/script&gt;</td>');
    expect(html).toContain(
      '<tr><td>packets per bin</td><td>stealth&lt;script&gt;alert(1)&lt;/script&gt;</td><td>normal</td>' +
        '<td>1.0000</td><td>0.00476</td><td>6</td><td>4</td><td>distinguishable</td></tr>',
    );
    expect(html).toContain('<tr><td>normal</td><td>0.5</td><td>6</td><td>60</td><td>90000</td></tr>');
    expect(tagsBalanced(html.replace(/<!DOCTYPE html>|<meta [^>]*>/g, ''))).toBe(true);
  });
});

describe('renderAnalysisPlot: every class and every ECDF visible', () => {
  /** The points of each drawn line, by the class named in its aria-label, in the order drawn. */
  function lines(svg: string): { cls: string; pts: [number, number][] }[] {
    return [...svg.matchAll(/aria-roledescription="line mark" d="([^"]*)"/g)].map((m) => {
      const label = svg.slice(Math.max(0, m.index! - 300), m.index!);
      const cls = /class: ([^;"]+)[^"]*"\s+role="graphics-symbol"\s*$/.exec(label)?.[1] ?? '';
      const pts = [...m[1]!.matchAll(/[ML](-?[\d.]+),(-?[\d.]+)/g)].map(
        (p) => [Number(p[1]), Number(p[2])] as [number, number],
      );
      return { cls, pts };
    });
  }
  const input: AnalysisPlotInput = {
    title: 'normal vs bulk',
    series: [
      { name: 'normal', binSeconds: 0.5, packets: [10, 12, 8, 11, 9, 10], bytes: [1500, 1800, 1200, 1650, 1350, 1500] },
      { name: 'bulk', binSeconds: 0.5, packets: [825], bytes: [250_000] },
    ],
    ecdfs: [
      {
        feature: 'packets_per_bin',
        unit: 'packets',
        reference: 'normal',
        subject: 'bulk',
        ref: { x: [8, 9, 10, 11, 12], f: [1 / 6, 2 / 6, 4 / 6, 5 / 6, 1] },
        sub: { x: [825], f: [1] },
        statistic: 1,
        pvalue: 0.02,
        n: 6,
        m: 1,
        distinguishable: true,
      },
    ],
  };

  it('a class of one bin is a bar a bin wide; each chart has its own rate scale', async () => {
    const svg = await renderAnalysisPlot(input, 'svg');
    const l = lines(svg);
    // packets/s and bytes/s charts of both classes, then the two ECDF sides
    expect(l.map((x) => x.cls)).toEqual(['normal', 'bulk', 'normal', 'bulk', 'normal', 'bulk']);
    for (const rate of l.slice(0, 4)) {
      const xs = rate.pts.map((p) => p[0]);
      expect(Math.max(...xs) - Math.min(...xs), rate.cls).toBeGreaterThan(100); // at least one bin wide (760 px for 3 s)
    }
    // independent y scales: normal traffic reaches the upper half of its chart (110 px high) next to a burst 80× higher
    for (const normal of [l[0]!, l[2]!]) expect(Math.min(...normal.pts.map((p) => p[1]))).toBeLessThan(55);
  });

  it('ECDFs are whole step functions: a single sample (m = 1) rises visibly, both sides reach 1 inside the panel', async () => {
    const svg = await renderAnalysisPlot(input, 'svg');
    const [ref, sub] = lines(svg).slice(4);
    for (const side of [ref!, sub!]) {
      const ys = side.pts.map((p) => p[1]);
      const top = Math.min(...ys); // F = 1
      const bottom = Math.max(...ys); // F = 0
      expect(bottom - top, side.cls).toBeGreaterThan(150); // the panel is 190 px high
      // the rise to 1 happens left of the panel's right edge (340 px), where the frame would hide it
      const rise = side.pts.findIndex((p) => p[1] === top);
      expect(side.pts[rise]![0], side.cls).toBeLessThan(340);
      expect(side.pts[rise]![0], side.cls).toBeGreaterThan(0);
    }
  });
});
