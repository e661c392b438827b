"""paas.router"""
