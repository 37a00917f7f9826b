package store

var bRequests = []byte("friendreqs") // requester key(32) -> JSON FriendRequest
