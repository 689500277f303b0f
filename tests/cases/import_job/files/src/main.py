print("svm")
