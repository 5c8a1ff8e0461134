module github.com/musterhq/muster/services/devstack

go 1.26.8
