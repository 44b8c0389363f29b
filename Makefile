# ferry's verbs. `make demo` and `make test` are the first two to try.
SHELL := /bin/bash
CARGO ?= cargo
export PATH := $(HOME)/.cargo/bin:$(PATH)

.PHONY: all deps build test test-mysql crds demo bench-full bench-cdc bench-verify bench-scale clean-lab chart e2e-cluster

all: build

## deps: install from Debian what the tests, demo and benchmarks need (only what is missing),
## and a cached Debian sid root with MySQL 9.7 (scripts/install-mysql.sh)
deps:
	@scripts/install-deps.sh

## build: every crate and every test target, once (the e2e tests use target/debug/ferry)
build:
	$(CARGO) build -q --workspace --all-targets

# The e2e suites that run a second time with MySQL 9.7 servers (FERRY_TEST_FLAVOR=mysql).
# Not here: ddl_rewrite (MariaDB statements), cross_flavor (its flavours are pinned; it runs in
# the MariaDB pass).
MYSQL_SUITES ?= harness full_sync incremental ddl_sync topologies selection_change examples binlog_columns schema_fidelity target_paths foreign_keys precheck binlog_resume tls verify cutover long_link

## test: deps, build, then every test on MariaDB, then the e2e suites on MySQL (private servers)
test: deps build
	FERRY_REQUIRE_HELM=1 $(CARGO) test -q --workspace
	FERRY_TEST_FLAVOR=mysql $(CARGO) test -q -p ferry-e2e $(addprefix --test ,$(MYSQL_SUITES))

## test-mysql: only the e2e suites, on MySQL servers
test-mysql: build
	FERRY_TEST_FLAVOR=mysql $(CARGO) test -q -p ferry-e2e $(addprefix --test ,$(MYSQL_SUITES))

## crds: regenerate the CRD from crds/src/lib.rs
crds:
	$(CARGO) run -q -p ferry-crds --bin ferry-crdgen > crds/ferry.dev_synctasks.yaml.tmp
	mv crds/ferry.dev_synctasks.yaml.tmp crds/ferry.dev_synctasks.yaml
	@if [ -d charts/ferry/crds ]; then cp crds/ferry.dev_synctasks.yaml charts/ferry/crds/; echo "copied into charts/ferry/crds/"; fi

# The servers of the demo and the benchmarks: mariadb (the machine's MariaDB 10.11) or mysql
# (MySQL 9.7 from the Debian sid root of scripts/install-mysql.sh).
FLAVOR ?= mariadb

## demo: sync the sample database between two private servers (ports 33061, 33062);
## FLAVOR=mysql for two MySQL 9.7 servers (default mariadb)
demo:
	@FLAVOR=$(FLAVOR) scripts/demo.sh

## bench-full: full-copy speed against mariadb-dump and mydumper (THREADS, TABLES, TABLE_SIZE), ferry
## with LOAD DATA and with local_infile OFF on the target (batched INSERTs);
## FLAVOR=mysql: MySQL 9.7 servers, against mysqldump | mysql and mydumper.
## Both benchmarks: BUFFER_POOL (512M), FLUSH_LOG_AT_TRX_COMMIT (2), SYNC_BINLOG (0) for both servers
bench-full:
	@FLAVOR=$(FLAVOR) scripts/bench-full.sh

## bench-cdc: binlog apply speed against the server's own replica, and lag under load (EVENTS, LAG_SECONDS,
## REPLICA_THREADS); FLAVOR=mysql: MySQL 9.7 servers, against MySQL's replica with 1 applier and with
## 4 WRITESET workers
bench-cdc:
	@FLAVOR=$(FLAVOR) scripts/bench-cdc.sh

## bench-verify: `ferry verify` against pt-table-sync --print (TABLES, TABLE_SIZE, RUNS), one row planted
## different per table on the target after ferry's initial sync: rows/s, the source's CPU seconds,
## the differences each found; FLAVOR=mysql: MySQL 9.7 servers (pt-table-sync with --no-check-slave
## and explain_format=TRADITIONAL there)
bench-verify:
	@FLAVOR=$(FLAVOR) scripts/bench-verify.sh

## bench-scale: many tables (DBS, TABLES, TABLE_SIZE: 10 x 1000 tables of 100 rows) against mydumper/myloader,
## ferry's peak RSS and status size, and its lag under writes spread over every table (LAG_RATE, LAG_SECONDS)
bench-scale:
	@FLAVOR=$(FLAVOR) scripts/bench-scale.sh

## clean-lab: stop the demo/bench servers (both flavours) and remove .demo/, .bench/ and their MySQL folders
clean-lab:
	@scripts/lab.sh clean


## chart: lint and render the Helm chart offline (helm from scripts/install-helm.sh)
chart:
	@scripts/install-helm.sh
	@scripts/install-kubernetes-validate.sh
	.tools/bin/helm lint charts/ferry
	.tools/bin/helm template ferry charts/ferry --namespace ferry-system --include-crds > /dev/null
	FERRY_REQUIRE_HELM=1 $(CARGO) test -q -p ferry-operator --test chart

## e2e-cluster: install the chart into the cluster of $$KUBECONFIG and run a task (opt-in; not part of make test)
e2e-cluster:
	@scripts/e2e-cluster.sh
