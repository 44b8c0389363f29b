-- sysbench script for `make bench-scale`: each event updates one row of a table picked at random
-- among --dbs databases (scale1 ...) of --tables tables each (t1 ...) of --rows rows, so that a
-- steady write load is spread over every table of the benchmark.
sysbench.cmdline.options = {
  dbs = {"databases (scale1 ... scaleN)", 10},
  tables = {"tables per database (t1 ... tN)", 1000},
  rows = {"rows per table (ids 1 ... N)", 100},
}

function thread_init()
  drv = sysbench.sql.driver()
  con = drv:connect()
end

function thread_done()
  con:disconnect()
end

function event()
  local d = sysbench.rand.uniform(1, sysbench.opt.dbs)
  local t = sysbench.rand.uniform(1, sysbench.opt.tables)
  local id = sysbench.rand.uniform(1, sysbench.opt.rows)
  con:query(string.format("UPDATE scale%d.t%d SET k = k + 1 WHERE id = %d", d, t, id))
end
