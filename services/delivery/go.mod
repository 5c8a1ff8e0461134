module github.com/musterhq/muster/services/delivery

go 1.26.8
