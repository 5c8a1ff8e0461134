module github.com/musterhq/muster/services/contacts

go 1.26.8
