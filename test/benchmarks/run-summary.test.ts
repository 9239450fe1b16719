import t from 'tap'
import { goalsOf } from '../../benchmarks/run.js'

// summary.json's goals: every result file's goals, one entry each, in one shape.
t.test('goalsOf gathers a result file goals in the shared shape, whatever they hold', async (t) => {
  t.same(
    goalsOf('he', {
      goals: [
        { name: 'a', target: '>= 0.5', measured: 0.61, met: true },
        { goal: 'b (named as http.json once did)', target: '< 20', measured: 31, met: false, note: 'why' },
        { name: 'c', target: '>= 100', measured: null, met: null, note: '' },
        { name: 'd', target: '< 50', measured: Number.NaN, met: 'yes' },
      ],
    }),
    [
      { benchmark: 'he', name: 'a', target: '>= 0.5', measured: 0.61, met: true },
      {
        benchmark: 'he',
        name: 'b (named as http.json once did)',
        target: '< 20',
        measured: 31,
        met: false,
        note: 'why',
      },
      { benchmark: 'he', name: 'c', target: '>= 100', measured: null, met: null },
      { benchmark: 'he', name: 'd', target: '< 50', measured: null, met: null },
    ],
  )
  t.same(goalsOf('ingest', { goals: { atLeastCopy: true } }), [], 'goals that are not a list are not gathered')
  t.same(goalsOf('sources', {}), [])
})
