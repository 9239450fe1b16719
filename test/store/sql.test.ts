import t from 'tap'
import { placeholderOrder } from '../../src/store/sql.js'

t.test("statements are written in PostgreSQL's form and rewritten for SQLite", async (t) => {
  t.same(placeholderOrder('SELECT a FROM s WHERE x = $1 AND y = $2'), {
    sqlite: 'SELECT a FROM s WHERE x = ? AND y = ?',
    order: [0, 1],
  })
  t.same(
    placeholderOrder('WHERE ($1::text IS NULL OR a = $1) AND b = $2'),
    { sqlite: 'WHERE (? IS NULL OR a = ?) AND b = ?', order: [0, 0, 1] },
    'a number used twice binds its parameter twice; casts go',
  )
  t.same(placeholderOrder('VALUES ($10, $2, $1)').order, [9, 1, 0], 'numbers of more than one digit')
  t.same(
    placeholderOrder('SELECT \'$1 is text\', "$2" FROM t WHERE a = $1'),
    { sqlite: 'SELECT \'$1 is text\', "$2" FROM t WHERE a = ?', order: [0] },
    'quoted text is left alone',
  )
  t.same(
    placeholderOrder('SELECT seq FROM audit_chain_head WHERE id = 1 FOR UPDATE').sqlite,
    'SELECT seq FROM audit_chain_head WHERE id = 1',
    'FOR UPDATE goes: the write lock holds every row',
  )
  t.same(
    placeholderOrder("SELECT 'a::b', c::bigint FROM t").sqlite,
    "SELECT 'a::b', c FROM t",
    'a cast inside quotes stays',
  )
})
