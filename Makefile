# labelwatch: `make test` and `make demo` are all a new clone needs.
# Tools the tests use are installed into the repository (node_modules/, .bin/)
# from lock files, so nothing is installed by hand.

RIE_VERSION := v0.0.0-20261030222936-bef5c4ba774d
STATICCHECK_VERSION := v0.8.2
BIN         := $(CURDIR)/.bin
RIE         := $(BIN)/aws-lambda-rie
BOOTSTRAP   := $(BIN)/bootstrap
GO_BUILD    := CGO_ENABLED=0 go build -tags lambda.norpc -trimpath -ldflags='-s -w'

.PHONY: test deps bootstrap check-moto lint lint-go lint-template demo soak bench build build-LabelwatchFunction clean

# sam build calls this target (Metadata: BuildMethod: makefile).
build-LabelwatchFunction:
	GOOS=linux GOARCH=arm64 $(GO_BUILD) -o $(ARTIFACTS_DIR)/bootstrap ./cmd/handler

build:
	$(MAKE) build-LabelwatchFunction ARTIFACTS_DIR=$(CURDIR)/.aws-sam/manual

deps: node_modules/.package-lock.json $(RIE) bootstrap

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --ignore-scripts

$(RIE):
	GOBIN=$(BIN) go install github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@$(RIE_VERSION)

# The bootstrap the end-to-end tests and the benchmark run (testenv.Bootstrap):
# cmd/handler for this machine, with the deployed build's flags. It is built
# here, once, before any test package starts, so no two packages compile it at
# once and no test's time includes compiling it. go build leaves an up-to-date
# binary alone; touch records that it was checked against the sources.
bootstrap:
	$(GO_BUILD) -o $(BOOTSTRAP) ./cmd/handler
	@touch $(BOOTSTRAP)

lint: lint-go lint-template

lint-go:
	@test -z "$$(gofmt -s -l $$(git ls-files '*.go'))" || { gofmt -s -l $$(git ls-files '*.go'); echo "gofmt -s would change the files above"; exit 1; }
	go vet ./...
	go run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...
	go mod tidy -diff

# cfn-lint, the CloudFormation and SAM linter AWS maintains (Python). CI must
# have it; elsewhere a missing linter is said once, visibly, and skipped.
# --include-checks I adds the informational rules (I3011: a stateful resource
# says what becomes of it when deleted or replaced); any finding fails. The
# -- ends the list of rule IDs, which would otherwise take template.yaml as
# one and lint standard input.
lint-template:
	@if command -v cfn-lint >/dev/null 2>&1; then \
		echo "cfn-lint --include-checks I -- template.yaml member.yaml"; cfn-lint --include-checks I -- template.yaml member.yaml; \
	elif [ "$$CI" = true ]; then \
		echo "cfn-lint is not installed, and CI lints template.yaml: pip install cfn-lint" >&2; exit 1; \
	else \
		echo "*** template.yaml was NOT linted: cfn-lint is not installed (pip install cfn-lint) ***"; \
	fi

# moto_server (Python) serves Secrets Manager and a second DynamoDB to the
# tests. CI must have it; elsewhere the tests that need it skip, and this says
# so once, visibly.
check-moto:
	@if command -v moto_server >/dev/null 2>&1; then :; \
	elif [ "$$CI" = true ]; then \
		echo "moto_server is not installed, and CI runs the tests that need it: pip install 'moto[server]'" >&2; exit 1; \
	else \
		echo "*** moto_server is not installed: the Secrets Manager and moto DynamoDB tests are skipped (pip install 'moto[server]') ***"; \
	fi

test: deps check-moto lint
	go test -race -count=1 ./...

demo:
	go run ./cmd/labelwatch demo

soak: deps
	go test -count=1 -run TestSoak -timeout 60m -v ./internal/reliability/ -soak.cycles=1000 -soak.jobs=2000

bench: deps
	go run ./cmd/labelbench -out docs/PERFORMANCE.md

clean:
	rm -rf .bin .aws-sam node_modules
