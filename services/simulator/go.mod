module github.com/musterhq/muster/services/simulator

go 1.26.8

require (
	github.com/go-chi/chi/v5 v5.5.0
	go.uber.org/zap v1.28.0
)

require go.uber.org/multierr v1.10.0 // indirect
