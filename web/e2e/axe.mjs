// Accessibility check with axe-core (@axe-core/playwright): fails on any
// serious or critical violation of WCAG 2.x A/AA rules on the current page.

import { AxeBuilder } from '@axe-core/playwright';

/** axeCheck runs axe on page and throws listing every serious or critical violation (rule, impact, nodes). */
export async function axeCheck(page, label) {
  const r = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
  const bad = r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  if (bad.length) {
    const lines = bad.map(
      (v) => `${v.impact} ${v.id}: ${v.help} (${v.nodes.length} node${v.nodes.length > 1 ? 's' : ''}: ${v.nodes
        .slice(0, 3)
        .map((n) => `${n.target.join(' ')}${n.failureSummary ? ` — ${n.failureSummary.replace(/\s+/g, ' ').slice(0, 200)}` : ''}`)
        .join(' | ')})`,
    );
    throw new Error(`axe on ${label}: ${bad.length} serious/critical violation(s):\n       ${lines.join('\n       ')}`);
  }
  return { passes: r.passes.length, minor: r.violations.length };
}
