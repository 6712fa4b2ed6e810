error("this helper is broken")
