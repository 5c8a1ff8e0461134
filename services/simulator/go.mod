module github.com/musterhq/muster/services/simulator

go 1.26.8

require (
	github.com/go-chi/chi/v5 v5.5.0
	github.com/sendgrid/rest v2.6.9+incompatible
	github.com/sendgrid/sendgrid-go v3.16.1+incompatible
	github.com/twilio/twilio-go v1.31.0
	go.uber.org/zap v1.28.0
)

require (
	github.com/golang/mock v1.6.0 // indirect
	github.com/nyaruka/phonenumbers v1.8.1 // indirect
	github.com/pkg/errors v0.9.1 // indirect
	go.uber.org/multierr v1.11.0 // indirect
	golang.org/x/text v0.44.0 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
)

require github.com/musterhq/muster/shared v0.0.0

replace github.com/musterhq/muster/shared => ../../shared
