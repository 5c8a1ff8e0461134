module github.com/musterhq/muster/services/campaigns

go 1.26.8
